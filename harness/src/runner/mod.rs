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

pub mod report;
pub mod steps;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sim_device::transport::SharedDevice;

use crate::scenario::Scenario;
pub use report::{Outcome, ScenarioReport, StepReport, StepStatus};
use steps::Session;

/// A step's time limit when the scenario gives no `timeout`.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How scenarios are run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Seed for every scenario, overriding their own `seed:` (to repeat a run).
    pub seed: Option<u64>,
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
        };
    }
    let Some(spec) = scenario.all_devices().next() else {
        return error("the scenario has no device".into());
    };
    let device = match scenario.device_config(spec).and_then(|c| c.build().map_err(Into::into)) {
        Ok(d) => d,
        Err(e) => return error(format!("cannot build the device: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return error(format!("cannot start a tokio runtime: {e}")),
    };
    let step_timeout = scenario.timeout.map_or(DEFAULT_STEP_TIMEOUT, |t| Duration::from_millis(t.ms));
    let steps = runtime.block_on(async {
        let shared = SharedDevice::new(device);
        let mut session = Session::new(scenario, shared, seed);
        let mut reports = Vec::with_capacity(scenario.steps.len());
        let mut broken = false;
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
                report.status =
                    match tokio::time::timeout(step_timeout, session.run(&step.value, step.line)).await {
                        Ok(status) => status,
                        Err(_) => StepStatus::Failed {
                            expected: format!("the step ends within {}", report::human(step_timeout)),
                            actual: "it did not (the step timed out)".into(),
                        },
                    };
                report.duration = t.elapsed();
                broken = matches!(report.status, StepStatus::Failed { .. });
            }
            reports.push(report);
        }
        reports
    });
    ScenarioReport {
        file: path.to_path_buf(),
        name: scenario.name.clone(),
        outcome: ScenarioReport::outcome_of(&steps),
        seed,
        error: None,
        steps,
        duration: started.elapsed(),
    }
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
