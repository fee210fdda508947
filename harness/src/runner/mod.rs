//! The scenario runner: read a scenario, build its device on the in-process simulator, carry
//! out its steps in order, and report each step as passed, failed (expected vs actual, with the
//! step's `file:line`) or skipped (with the reason; a skipped step is never counted as passed).
//!
//! ```text
//! scenario file ──Scenario::from_path──▶ Scenario ──device_config──▶ Device ──▶ SharedDevice
//!                                                                                   │
//!                                  steps ──Session::run (per-step timeout)──▶ SmpClient (in-process)
//!                                                                                   │
//!                                                         ScenarioReport ◀── StepReport per step
//! ```
//!
//! Scenarios run independently (each on its own device, its own thread and tokio runtime), so
//! [`run_all`] runs several at once and still gives the same results, in input order.
//! Everything random is drawn from the scenario's seed ([`seed_for`]).

pub mod endpoints;
pub mod exec;
pub mod report;
pub mod repro;
pub mod steps;
pub mod transcript;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sim_device::transport::SharedDevice;

use crate::scenario::{CutKind, Phase, Scenario, Step};
pub use report::{Outcome, ScenarioReport, StepReport, StepStatus};
use steps::Session;

/// A step's time limit when the scenario gives no `timeout`.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How scenarios are run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Seed for every scenario, overriding their own `seed:` (to repeat a run).
    pub seed: Option<u64>,
    /// Where a failing scenario's reproducer directory is written (none: not written).
    pub repro_dir: Option<PathBuf>,
}

/// The seed a scenario runs with: `--seed`, else its `seed:`, else one derived from its name
/// (so an unseeded scenario still runs the same way every time).
pub fn seed_for(scenario_name: &str, own: Option<u64>, options: &RunOptions) -> u64 {
    options.seed.or(own).unwrap_or_else(|| {
        // FNV-1a: stable across runs and platforms, unlike std's hasher.
        scenario_name
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// Read and run one scenario file.
pub fn run_file(path: &Path, options: &RunOptions) -> ScenarioReport {
    let started = Instant::now();
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let scenario = match Scenario::from_path(path) {
        Ok(s) => s,
        Err(e) => {
            let seed = seed_for(&file_name, None, options);
            return ScenarioReport::error(
                path.to_path_buf(),
                file_name,
                seed,
                e.to_string(),
                started.elapsed(),
            );
        }
    };
    run_scenario(path, &scenario, options)
}

/// Run a parsed scenario (`path` is what reports call its file).
pub fn run_scenario(path: &Path, scenario: &Scenario, options: &RunOptions) -> ScenarioReport {
    let started = Instant::now();
    let seed = seed_for(&scenario.name, scenario.seed, options);
    let error = |why: String| {
        ScenarioReport::error(path.to_path_buf(), scenario.name.clone(), seed, why, started.elapsed())
    };
    if !scenario.targets.is_empty() && !scenario.targets.iter().any(|t| t == "sim") {
        let steps = scenario
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepReport {
                index: i + 1,
                step: s.value.name().to_string(),
                line: s.line,
                status: StepStatus::Skipped {
                    reason: format!(
                        "the scenario runs only on {}, not on the in-process sim",
                        scenario.targets.join(", ")
                    ),
                },
                duration: Duration::ZERO,
            })
            .collect();
        return ScenarioReport {
            file: path.to_path_buf(),
            name: scenario.name.clone(),
            outcome: Outcome::Skipped,
            seed,
            error: None,
            steps,
            duration: started.elapsed(),
            repro: None,
        };
    }
    let Some(spec) = scenario.all_devices().next() else {
        return error("the scenario has no device".into());
    };
    // Every run (one, or one per cut point of a sweep) starts from a freshly built device.
    let make_device = || scenario.device_config(spec).and_then(|c| c.build().map_err(Into::into));
    if let Err(e) = make_device() {
        return error(format!("cannot build the device: {e}"));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return error(format!("cannot start a tokio runtime: {e}")),
    };
    let step_timeout = scenario.timeout.map_or(DEFAULT_STEP_TIMEOUT, |t| Duration::from_millis(t.ms));
    let sweep = scenario.steps.iter().enumerate().find_map(|(i, s)| match &s.value {
        Step::PowerLossSweep(sw) => Some((i, sw)),
        _ => None,
    });
    let steps: Result<Vec<StepReport>, String> = runtime.block_on(async {
        let Some((at, sw)) = sweep else {
            let device = make_device().map_err(|e| e.to_string())?;
            return Ok(run_once(scenario, device, seed, None, step_timeout).await.0);
        };
        let every = sw.every.unwrap_or(1).max(1);
        let max_runs = sw.max_cuts.unwrap_or(MAX_SWEEP_RUNS).min(MAX_SWEEP_RUNS);
        let kinds = if sw.cuts.is_empty() { vec![CutKind::Before] } else { sw.cuts.clone() };
        let mut runs = 0u64;
        let mut op = 1u64;
        let mut last = Vec::new();
        'sweep: loop {
            let mut struck = false;
            for &kind in &kinds {
                let device = make_device().map_err(|e| e.to_string())?;
                let cut = SweepCut { index: at, during: sw.during, op, kind };
                let (mut reports, cuts) = run_once(scenario, device, seed, Some(cut), step_timeout).await;
                runs += 1;
                struck |= cuts > 0;
                if ScenarioReport::outcome_of(&reports) == Outcome::Failed {
                    if let Some(r) = reports.get_mut(at) {
                        r.status = StepStatus::Failed {
                            expected: format!(
                                "the steps after the sweep pass whatever flash operation of the {} phase the power is cut at",
                                kebab(&sw.during)
                            ),
                            actual: format!("with a `{}` cut at operation {op} (run {runs}) they do not; the failing step follows", kebab(&kind)),
                        };
                    }
                    return Ok(reports);
                }
                last = reports;
                if runs >= max_runs {
                    break 'sweep;
                }
            }
            if !struck {
                // The phase has fewer operations than `op`: the last run saw no cut at all.
                break;
            }
            op = op.saturating_add(every);
        }
        if let Some(r) = last.get_mut(at) {
            r.status = StepStatus::Passed {
                note: Some(format!(
                    "{runs} runs: cuts [{}] at flash operations 1..{op} (every {every}) of the {} phase, all passed",
                    kinds.iter().map(kebab).collect::<Vec<_>>().join(", "),
                    kebab(&sw.during)
                )),
            };
        }
        Ok(last)
    });
    let steps = match steps {
        Ok(s) => s,
        Err(e) => return error(format!("cannot build the device: {e}")),
    };
    ScenarioReport {
        file: path.to_path_buf(),
        name: scenario.name.clone(),
        outcome: ScenarioReport::outcome_of(&steps),
        seed,
        error: None,
        steps,
        duration: started.elapsed(),
        repro: None,
    }
}

/// Most runs of one `power_loss_sweep` (a bound when `max_cuts` is not given).
pub const MAX_SWEEP_RUNS: u64 = 5000;

/// Where one run of a sweep cuts the power: instead of the sweep step at `index`, a cut of
/// `kind` is armed at the `op`-th flash operation of the next `during` phase.
#[derive(Debug, Clone, Copy)]
struct SweepCut {
    index: usize,
    during: Phase,
    op: u64,
    kind: CutKind,
}

/// Run the steps once on `device`; returns the step reports and how many armed cuts struck
/// after the sweep point (if any).
async fn run_once(
    scenario: &Scenario,
    device: sim_device::device::Device,
    seed: u64,
    cut: Option<SweepCut>,
    step_timeout: Duration,
) -> (Vec<StepReport>, u64) {
    let shared = SharedDevice::new(device);
    let mut session = Session::new(scenario, shared, seed);
    let mut reports = Vec::with_capacity(scenario.steps.len());
    let mut broken = false;
    let mut struck_before = 0;
    for (i, step) in scenario.steps.iter().enumerate() {
        let mut report = StepReport {
            index: i + 1,
            step: step.value.name().to_string(),
            line: step.line,
            status: StepStatus::NotRun,
            duration: Duration::ZERO,
        };
        if !broken {
            let t = Instant::now();
            report.status = match cut {
                Some(c) if c.index == i => {
                    struck_before = session.cuts_struck();
                    session.arm(c.during, c.op, c.kind, step.line);
                    StepStatus::Passed {
                        note: Some(format!(
                            "`{}` cut at flash operation {} of the {} phase",
                            kebab(&c.kind),
                            c.op,
                            kebab(&c.during)
                        )),
                    }
                }
                _ => match tokio::time::timeout(step_timeout, session.run(&step.value, step.line)).await {
                    Ok(status) => status,
                    Err(_) => StepStatus::Failed {
                        expected: format!("the step ends within {}", report::human(step_timeout)),
                        actual: "it did not (the step timed out)".into(),
                    },
                },
            };
            report.duration = t.elapsed();
            broken = matches!(report.status, StepStatus::Failed { .. });
        }
        reports.push(report);
    }
    (reports, session.cuts_struck().saturating_sub(struck_before))
}

/// Run every file, `jobs` at a time (at least 1), calling `done` as each finishes (in finish
/// order, for progress); the reports come back in the order of `files`.
pub fn run_all(
    files: &[PathBuf],
    options: &RunOptions,
    jobs: usize,
    done: &(dyn Fn(&ScenarioReport) + Sync),
) -> Vec<ScenarioReport> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScenarioReport>>> = Mutex::new(vec![None; files.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, files.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let report = run_file(file, options);
                    done(&report);
                    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(slot) = r.get_mut(i) {
                        *slot = Some(report);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect()
}

/// A scenario enum value as the YAML writes it (`trailer-write`, `interrupted-erase`).
pub fn kebab<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::from("?"),
    }
}
